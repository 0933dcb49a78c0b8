import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyGuard } from './api-key.guard.js';
import { HostGuard } from './host.guard.js';
import { UploadSessions } from './upload-sessions.service.js';

/** The Host check (a middleware the app installs), the global API-key guard and the upload-session tokens. */
@Module({
  providers: [HostGuard, UploadSessions, ApiKeyGuard, { provide: APP_GUARD, useExisting: ApiKeyGuard }],
  exports: [UploadSessions],
})
export class SecurityModule {}
