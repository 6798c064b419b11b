/**
 * The benchmark's groups, run in this order; each reports rows with the fields it measures (BenchRow).
 *
 * - step-cost: a gradient step against a forward pass, per backend, model and before/after variant;
 * - sweep: 64 channels as batched runs against 64 one-unit runs;
 * - service: API requests/s, sweep acceptance and queue overhead against a real redis-server;
 * - storage: presigning result URLs for S3 storage (a page of finished units).
 */
import { serviceGroup } from './service.ts';
import { stepCostGroup } from './step-cost.ts';
import { storageGroup } from './storage.ts';
import { sweepGroup } from './sweep.ts';
import type { BenchGroup } from './types.ts';

export const benchGroups: BenchGroup[] = [stepCostGroup, sweepGroup, serviceGroup, storageGroup];
