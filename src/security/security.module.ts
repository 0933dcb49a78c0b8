import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AllowedHosts } from './allowed-hosts.service.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { HostGuard } from './host.guard.js';
import { ImdsClient } from './imds.client.js';
import { UploadSessions } from './upload-sessions.service.js';

/**
 * The Host check (400), a middleware the app installs first, the global API-key guard (401/403), and the
 * upload-session tokens the guard and the upload features check scopes with.
 */
@Module({
  providers: [
    ImdsClient,
    AllowedHosts,
    HostGuard,
    UploadSessions,
    ApiKeyGuard,
    { provide: APP_GUARD, useExisting: ApiKeyGuard },
  ],
  exports: [UploadSessions],
})
export class SecurityModule {}
