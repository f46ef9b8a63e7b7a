export { type Catalogue, createCatalogue } from './catalogue.ts';
export { createMemoryOpenCaseIndex, type OpenCaseIndex } from './open-index.ts';
export { CASE_SORTS, type CaseSort } from './repo.ts';
export {
  type CaseFilter,
  type CaseService,
  type CaseWindows,
  createCaseService,
  type SensorAnomaly,
} from './service.ts';
