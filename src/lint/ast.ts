/**
 * Helpers for the JSON parse tree of libpg-query. A node is an object with one key, the node type
 * (`{ "CreateStmt": { ... } }`); some fields hold the inner object directly (a RangeVar in
 * `relation`). Fields at their default value are left out of the JSON.
 */

// The parse tree is untyped JSON: the linter reads only the fields it checks.
export type AstBody = any;

/** A schema-qualified name; `schema` is undefined when the SQL left it out. */
export interface QualifiedName {
  readonly schema?: string;
  readonly name: string;
}

/** Returns the type of a wrapped node (`CreateStmt`), or undefined for anything else. */
export function nodeTypeOf(node: unknown): string | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1 || !/^[A-Z]/.test(keys[0])) return undefined;
  return keys[0];
}

/** Returns the inner object of a wrapped node, or undefined when the node has another type. */
export function unwrap(node: unknown, type?: string): AstBody | undefined {
  const nodeType = nodeTypeOf(node);
  if (nodeType === undefined || (type !== undefined && nodeType !== type)) return undefined;
  return (node as Record<string, unknown>)[nodeType];
}

/**
 * Calls `visit` for every wrapped node under `value`, parents before children. Returning false
 * from `visit` skips that node's children.
 */
export function forEachNode(value: unknown, visit: (type: string, body: AstBody) => boolean | void): void {
  if (Array.isArray(value)) {
    for (const item of value) forEachNode(item, visit);
    return;
  }
  if (typeof value !== 'object' || value === null) return;

  const type = nodeTypeOf(value);
  if (type !== undefined) {
    const body = (value as Record<string, unknown>)[type];
    if (visit(type, body) === false) return;
    forEachNode(body, visit);
    return;
  }

  for (const child of Object.values(value)) forEachNode(child, visit);
}

/** Returns true when some node under `value` satisfies `test`. */
export function someNode(value: unknown, test: (type: string, body: AstBody) => boolean): boolean {
  let found = false;
  forEachNode(value, (type, body) => {
    if (found) return false;
    if (test(type, body)) found = true;
    return !found;
  });
  return found;
}

/** Returns the text of a `String` node, or undefined. */
export function stringOf(node: unknown): string | undefined {
  const body = unwrap(node, 'String');
  return typeof body?.sval === 'string' ? body.sval : undefined;
}

/** Returns the parts of a name given as a list of `String` nodes (`["auth", "tenant_h"]`). */
export function nameParts(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => stringOf(item)).filter((part): part is string => part !== undefined);
}

/** Returns the qualified name of a list of `String` nodes: the last part is the name. */
export function qualifiedNameOf(list: unknown): QualifiedName | undefined {
  const parts = nameParts(list);
  if (parts.length === 0) return undefined;
  const name = parts[parts.length - 1];
  return parts.length > 1 ? { schema: parts[parts.length - 2], name } : { name };
}

/** Returns the qualified name of a RangeVar object. */
export function relationOf(rangeVar: AstBody): QualifiedName | undefined {
  if (typeof rangeVar?.relname !== 'string') return undefined;
  return typeof rangeVar.schemaname === 'string' ? { schema: rangeVar.schemaname, name: rangeVar.relname } : { name: rangeVar.relname };
}

/** Compares two names; a name without a schema matches the same name in any schema. */
export function isSameName(left: QualifiedName, right: QualifiedName): boolean {
  if (left.name !== right.name) return false;
  return left.schema === undefined || right.schema === undefined || left.schema === right.schema;
}

/** Formats a qualified name for messages. */
export function formatName(name: QualifiedName): string {
  return name.schema === undefined ? name.name : `${name.schema}.${name.name}`;
}

/** Returns the `DefElem` options of a statement as a map from option name to argument. */
export function optionsOf(options: unknown): Map<string, unknown> {
  const result = new Map<string, unknown>();
  if (!Array.isArray(options)) return result;
  for (const option of options) {
    const element = unwrap(option, 'DefElem');
    if (typeof element?.defname === 'string') result.set(element.defname, element.arg);
  }
  return result;
}

/** Returns every relation a query reads in its FROM clauses, CTEs and subqueries. */
export function relationsReadBy(query: unknown): QualifiedName[] {
  const relations: QualifiedName[] = [];
  forEachNode(query, (type, body) => {
    if (type !== 'RangeVar') return;
    const relation = relationOf(body);
    if (relation !== undefined) relations.push(relation);
  });
  return relations;
}
