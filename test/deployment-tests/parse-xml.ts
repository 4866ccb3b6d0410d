/** One element of a parsed XML document. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  readonly text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    const value = ENTITIES[entity];
    if (value === undefined) throw new Error(`unknown XML entity ${whole}`);
    return value;
  });
}

/**
 * Parses the subset of XML that JUnit reports use: declaration, elements, attributes, text and
 * entities, without DTD, CDATA or comments. It throws on anything malformed, such as an unescaped
 * `<` or `&` or a closing tag that does not match, so a test fails on a report a CI system rejects.
 */
export function parseXml(source: string): XmlElement {
  let position = 0;
  const declaration = /^<\?xml[^?]*\?>\s*/.exec(source);
  if (declaration) position = declaration[0].length;

  function parseElement(): XmlElement {
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>/.exec(source.slice(position));
    if (!open) throw new Error(`expected an element at offset ${position}: ${JSON.stringify(source.slice(position, position + 40))}`);
    position += open[0].length;

    const attributes: Record<string, string> = {};
    for (const match of open[2].matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
      if (match[1] in attributes) throw new Error(`attribute ${match[1]} repeated on <${open[1]}>`);
      attributes[match[1]] = decode(match[2]);
    }
    if (open[3] === '/') return { name: open[1], attributes, children: [], text: '' };

    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      const rest = source.slice(position);
      if (rest.startsWith(`</${open[1]}>`)) {
        position += open[1].length + 3;
        return { name: open[1], attributes, children, text: decode(text) };
      }
      if (rest.startsWith('</')) throw new Error(`closing tag at offset ${position} does not match <${open[1]}>`);
      if (rest.startsWith('<')) {
        children.push(parseElement());
        continue;
      }
      const end = rest.indexOf('<');
      if (end < 0) throw new Error(`<${open[1]}> is never closed`);
      const chunk = rest.slice(0, end);
      if (/&(?!(#x[0-9a-fA-F]+|#\d+|[a-z]+);)/.test(chunk)) throw new Error(`unescaped & in text at offset ${position}`);
      text += chunk;
      position += end;
    }
  }

  const root = parseElement();
  if (source.slice(position).trim() !== '') throw new Error(`text after the root element at offset ${position}`);
  return root;
}
