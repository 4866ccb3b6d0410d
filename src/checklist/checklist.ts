/**
 * State of one checklist item: `verified` when the tool checked it and found the expected value,
 * `failed` when the tool checked it and found something else, `open` when a person must do or
 * confirm it.
 */
export type ChecklistItemStatus = 'verified' | 'failed' | 'open';

/** One piece of evidence: the query or command that was run and the value it returned. */
export interface Evidence {
  readonly source: string;
  readonly value: string;
}

export interface ChecklistItem {
  readonly title: string;
  readonly status: ChecklistItemStatus;
  readonly evidence: readonly Evidence[];
  /** Steps for a person: how to do an open item, or how to repair a failed one. */
  readonly instructions?: string;
}

export interface ChecklistSection {
  readonly title: string;
  readonly items: readonly ChecklistItem[];
}

export interface Checklist {
  readonly database: string;
  readonly serverVersion: string;
  readonly generatedAt: Date;
  readonly sections: readonly ChecklistSection[];
  readonly summary: { readonly verified: number; readonly failed: number; readonly open: number };
}

/** People who sign the deployment off, in the order of the sign-off table. */
export const SIGN_OFF_ROLES = ['Deployment engineer', 'Database administrator (DBA on-call)', 'DevOps', 'Security'] as const;
