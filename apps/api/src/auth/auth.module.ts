import { Module } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { JwtVerifier } from '@doubletap/auth';
import { BearerGuard } from './bearer.guard';

@Module({
  providers: [
    {
      provide: JwtVerifier,
      inject: [SETTINGS],
      useFactory: (s: Settings) => new JwtVerifier(s.auth),
    },
    BearerGuard,
  ],
  exports: [JwtVerifier, BearerGuard],
})
export class AuthModule {}
