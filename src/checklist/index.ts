export { buildChecklist, type ChecklistOptions } from './build-checklist';
export { renderChecklistMarkdown } from './render-checklist';
export type { Checklist, ChecklistItem, ChecklistItemStatus, ChecklistSection, Evidence } from './checklist';
