export { type Catalogue, createCatalogue } from './catalogue.ts';
export { type CaseFilter, type CaseService, createCaseService, type SensorAnomaly } from './service.ts';
