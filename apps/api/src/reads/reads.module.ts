import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { OptionalBearerGuard } from '../auth/optional-bearer.guard';
import { AggregatorOwnerDirectory } from './aggregator-owner-directory';
import { liveCountsProvider } from './live-counts.provider';
import { countRepositoryProvider } from './near-cache-count.repository';
import { OwnerDirectory } from './owner-directory';
import { PageController } from './page.controller';
import { ReadSide } from './read-side.service';
import { ReadsController } from './reads.controller';

/** Count reads, the live count stream, "did I like it", and the live post page. */
@Module({
  imports: [AuthModule],
  controllers: [ReadsController, PageController],
  providers: [
    countRepositoryProvider,
    { provide: OwnerDirectory, useClass: AggregatorOwnerDirectory },
    liveCountsProvider,
    ReadSide,
    OptionalBearerGuard,
  ],
})
export class ReadsModule {}
