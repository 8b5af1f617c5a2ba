export { createManagementClient, type ManagementClient, type ManagementOptions, type Problem, type components, type paths } from './management.ts';
