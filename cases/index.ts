export { type Catalogue, createCatalogue } from './catalogue.ts';
export { createMemoryOpenCaseIndex, type OpenCaseIndex } from './open-index.ts';
export {
  type CaseFilter,
  type CaseService,
  type CaseWindows,
  createCaseService,
  type SensorAnomaly,
} from './service.ts';
