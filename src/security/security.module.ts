import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AllowedHosts } from './allowed-hosts.service.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { HostGuard } from './host.guard.js';
import { ImdsClient } from './imds.client.js';

/** Global guards, in this order: the Host check (400), then the API key (401/403). */
@Module({
  providers: [
    ImdsClient,
    AllowedHosts,
    { provide: APP_GUARD, useClass: HostGuard },
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
})
export class SecurityModule {}
