import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AllowedHosts } from './allowed-hosts.service.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { HostGuard } from './host.guard.js';
import { UploadSessionsModule } from '../upload-sessions/upload-sessions.module.js';
import { ImdsClient } from './imds.client.js';

/** The Host check (400), a middleware the app installs first, then the global API-key guard (401/403). */
@Module({
  imports: [UploadSessionsModule],
  providers: [ImdsClient, AllowedHosts, HostGuard, ApiKeyGuard, { provide: APP_GUARD, useExisting: ApiKeyGuard }],
})
export class SecurityModule {}
