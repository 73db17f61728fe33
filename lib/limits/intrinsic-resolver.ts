/**
 * Resolves CloudFormation intrinsics in one template to the values AWS would produce, at their real
 * lengths (./resource-values.ts, ./physical-names.ts): Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split, Fn::If (the larger branch: limits are about the worst case), Fn::ImportValue,
 * Fn::FindInMap, Fn::GetAZs, Fn::Base64, Fn::Cidr, Fn::ToJsonString, Fn::Length, the condition
 * functions and the pseudo parameters. A nested stack's parameters are the values its parent passes
 * (resolved in the parent); `Fn::GetAtt [Stack, Outputs.X]` is the nested stack's output.
 *
 * What cannot be known (a custom resource's attributes, an export no stack of the assembly makes, an
 * intrinsic not listed) becomes a stand-in of a conservative length with a note (./resolution-notes.ts).
 */
import type { AwsEnvironment } from './aws-environment';
import { asList, type CfnResource, type CfnTemplate, isRecord } from './cfn-template';
import { generatedName, NAME_RULES, seededUuid } from './physical-names';
import { ResolutionNotes, unresolvedText } from './resolution-notes';
import {
  genericFacts,
  isCustomResource,
  RESOURCE_FACTS,
  type ResourceFacts,
  type ResourceView,
} from './resource-values';

/** `Ref AWS::NoValue`: the property or list item is removed. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');
/** A value with its intrinsics resolved. */
type Resolved = unknown;

export interface ResolverContext {
  /** The stack, for notes: `AnalysisStack` or `AnalysisStack/<nested stack logical id>`. */
  readonly where: string;
  readonly template: CfnTemplate;
  /** The CloudFormation stack name (a nested stack's is generated: see `nestedStackName`). */
  readonly stackName: string;
  readonly env: AwsEnvironment;
  readonly notes: ResolutionNotes;
  /** The value the parent stack passes for a parameter, resolved; undefined when it passes none. */
  readonly parentParameter?: (name: string) => Resolved;
  /** An output of a nested stack of this template, resolved in it; undefined when unknown. */
  readonly nestedOutput?: (stackLogicalId: string, outputName: string) => Resolved;
  /** The value another stack of the assembly exports under `name`; undefined when none does. */
  readonly importedValue?: (name: string) => Resolved;
}

/** The name CloudFormation gives a nested stack: `{parent}-{logicalId}-{13 random}`, at most 128. */
export const nestedStackName = (parentStackName: string, logicalId: string): string =>
  generatedName(parentStackName, logicalId, NAME_RULES.stack);

const NESTED_STACK_FACTS: ResourceFacts = {
  name: { property: '', rule: NAME_RULES.stack },
  ref: (r) =>
    `arn:${r.env.partition}:cloudformation:${r.env.region}:${r.env.account}:stack/${r.name()}/${seededUuid(r.logicalId)}`,
  attributes: {},
};

export class IntrinsicResolver {
  private readonly cache = new Map<string, Resolved>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly ctx: ResolverContext) {}

  /** `value` with every intrinsic resolved; `at` names where it is, for notes (e.g. a logical id). */
  resolve(value: unknown, at: string): Resolved {
    const resolved = this.walk(value, at);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  /** `resolve`, as text (a non-string result is written as JSON). */
  resolveText(value: unknown, at: string): string {
    return textOf(this.resolve(value, at));
  }

  /** `Ref` of a logical id, parameter or pseudo parameter. */
  ref(name: string, at = name): Resolved {
    return this.memo(`Ref:${name}`, at, () => this.computeRef(name, at));
  }

  /** `Fn::GetAtt [logicalId, attribute]`. */
  attribute(logicalId: string, attribute: string, at = logicalId): Resolved {
    return this.memo(`GetAtt:${logicalId}.${attribute}`, at, () =>
      this.computeAttribute(logicalId, attribute, at),
    );
  }

  /** A resource's physical name (its name property, else CloudFormation's generated name). */
  physicalName(logicalId: string): string {
    const resource = this.ctx.template.Resources?.[logicalId];
    if (!resource) return generatedName(this.ctx.stackName, logicalId, NAME_RULES.other);
    return this.view(logicalId, resource).name();
  }

  private memo(key: string, at: string, compute: () => Resolved): Resolved {
    if (this.cache.has(key)) return this.cache.get(key);
    if (this.inProgress.has(key)) return this.unresolved(at, `${key} (circular)`);
    this.inProgress.add(key);
    try {
      const value = compute();
      this.cache.set(key, value);
      return value;
    } finally {
      this.inProgress.delete(key);
    }
  }

  private note(at: string, text: string): void {
    this.ctx.notes.add(`${this.ctx.where}/${at}: ${text}`);
  }

  private unresolved(at: string, what: string): string {
    this.note(
      at,
      `${what} cannot be resolved from the assembly; measured as ${unresolvedText(what).length} characters`,
    );
    return unresolvedText(what);
  }

  private walk(value: unknown, at: string): Resolved | typeof NO_VALUE {
    if (Array.isArray(value)) {
      return value.map((item) => this.walk(item, at)).filter((item) => item !== NO_VALUE);
    }
    if (!isRecord(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
      return this.intrinsic(keys[0], value[keys[0]], at);
    }
    const entries: [string, Resolved][] = [];
    for (const [key, item] of Object.entries(value)) {
      const resolved = this.walk(item, at);
      if (resolved !== NO_VALUE) entries.push([key, resolved]);
    }
    return Object.fromEntries(entries);
  }

  private intrinsic(name: string, args: unknown, at: string): Resolved | typeof NO_VALUE {
    switch (name) {
      case 'Ref': {
        const target = this.resolve(args, at);
        if (target === 'AWS::NoValue') return NO_VALUE;
        return this.ref(String(target), at);
      }
      case 'Fn::GetAtt': {
        const [id, attribute] =
          typeof args === 'string'
            ? [args.split('.')[0], args.split('.').slice(1).join('.')]
            : asList(args).map((part) => textOf(this.resolve(part, at)));
        return this.attribute(String(id), String(attribute), at);
      }
      case 'Fn::Join': {
        const [separator, parts] = asList(args);
        return asList(this.resolve(parts, at))
          .map(textOf)
          .join(textOf(this.resolve(separator, at)));
      }
      case 'Fn::Sub':
        return this.sub(args, at);
      case 'Fn::Select': {
        const [index, list] = asList(args);
        const items = asList(this.resolve(list, at));
        const i = Number(this.resolve(index, at));
        if (!Number.isInteger(i) || i < 0 || i >= items.length) {
          return this.unresolved(at, `Fn::Select index ${String(i)} of ${items.length} items`);
        }
        return items[i];
      }
      case 'Fn::Split': {
        const [separator, text] = asList(args);
        return this.resolveText(text, at).split(textOf(this.resolve(separator, at)));
      }
      case 'Fn::If': {
        const [, whenTrue, whenFalse] = asList(args);
        const a = this.walk(whenTrue, at);
        const b = this.walk(whenFalse, at);
        return measuredLength(a) >= measuredLength(b) ? a : b;
      }
      case 'Fn::ImportValue': {
        const exportName = this.resolveText(args, at);
        const imported = this.ctx.importedValue?.(exportName);
        return imported !== undefined ? imported : this.unresolved(at, `Fn::ImportValue ${exportName}`);
      }
      case 'Fn::FindInMap':
        return this.findInMap(asList(args), at);
      case 'Fn::GetAZs': {
        const region = this.resolveText(args, at) || this.ctx.env.region;
        return ['a', 'b', 'c'].map((zone) => `${region}${zone}`);
      }
      case 'Fn::Base64':
        return Buffer.from(this.resolveText(args, at), 'utf8').toString('base64');
      case 'Fn::Cidr': {
        const [, count, bits] = asList(this.resolve(args, at));
        const prefix = 32 - Number(bits);
        return Array.from({ length: Number(count) }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/${prefix}`);
      }
      case 'Fn::ToJsonString':
        return JSON.stringify(this.resolve(args, at));
      case 'Fn::Length':
        return asList(this.resolve(args, at)).length;
      case 'Fn::Equals': {
        const [a, b] = asList(args).map((part) => this.resolve(part, at));
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::Not':
        return !asList(args).map((part) => this.resolve(part, at))[0];
      case 'Fn::And':
        return asList(args).every((part) => this.resolve(part, at) === true);
      case 'Fn::Or':
        return asList(args).some((part) => this.resolve(part, at) === true);
      case 'Fn::Contains': {
        const [list, item] = asList(args).map((part) => this.resolve(part, at));
        return asList(list).some((x) => JSON.stringify(x) === JSON.stringify(item));
      }
      default:
        return this.unresolved(at, name);
    }
  }

  private sub(args: unknown, at: string): string {
    const [text, variables] = typeof args === 'string' ? [args, {}] : asList(args);
    const vars = isRecord(variables) ? variables : {};
    return String(text).replace(/\$\{([^}]*)\}/g, (whole, reference: string) => {
      if (reference.startsWith('!')) return `\${${reference.slice(1)}}`;
      if (Object.hasOwn(vars, reference)) return textOf(this.resolve(vars[reference], at));
      const dot = reference.indexOf('.');
      if (dot > 0 && !reference.startsWith('AWS::')) {
        return textOf(this.attribute(reference.slice(0, dot), reference.slice(dot + 1), at));
      }
      if (reference === '') return whole;
      return textOf(this.ref(reference, at));
    });
  }

  private findInMap(args: unknown[], at: string): Resolved {
    const [map, top, second, fallback] = args.map((part) => this.resolve(part, at));
    const value = this.ctx.template.Mappings?.[String(map)]?.[String(top)]?.[String(second)];
    if (value !== undefined) return this.resolve(value, at);
    if (isRecord(fallback) && fallback.DefaultValue !== undefined) return fallback.DefaultValue;
    return this.unresolved(at, `Fn::FindInMap ${String(map)}.${String(top)}.${String(second)}`);
  }

  private computeRef(name: string, at: string): Resolved {
    const { env, stackName, template } = this.ctx;
    switch (name) {
      case 'AWS::AccountId':
        return env.account;
      case 'AWS::Region':
        return env.region;
      case 'AWS::Partition':
        return env.partition;
      case 'AWS::URLSuffix':
        return env.urlSuffix;
      case 'AWS::StackName':
        return stackName;
      case 'AWS::StackId':
        return `arn:${env.partition}:cloudformation:${env.region}:${env.account}:stack/${stackName}/${seededUuid(stackName)}`;
      case 'AWS::NotificationARNs':
        return [];
    }
    if (template.Parameters && Object.hasOwn(template.Parameters, name)) return this.parameter(name, at);
    const resource = template.Resources?.[name];
    if (!resource) return this.unresolved(at, `Ref ${name} (not in the template)`);
    if (isCustomResource(resource.Type)) {
      return this.unresolved(at, `Ref ${name} (the physical id of ${resource.Type}, chosen by its provider)`);
    }
    return this.facts(name, resource, at).ref(this.view(name, resource));
  }

  private parameter(name: string, at: string): Resolved {
    const passed = this.ctx.parentParameter?.(name);
    if (passed !== undefined) return passed;
    const declared = this.ctx.template.Parameters?.[name] ?? {};
    const type = declared.Type ?? 'String';
    if (type.startsWith('AWS::SSM::Parameter::Value<')) {
      return this.unresolved(at, `parameter ${name} (an SSM parameter's value)`);
    }
    if (declared.Default === undefined)
      return this.unresolved(at, `parameter ${name} (no default, no parent)`);
    const value = this.resolve(declared.Default, at);
    return type.startsWith('List<') || type === 'CommaDelimitedList' ? textOf(value).split(',') : value;
  }

  private computeAttribute(logicalId: string, attribute: string, at: string): Resolved {
    const resource = this.ctx.template.Resources?.[logicalId];
    if (!resource) return this.unresolved(at, `Fn::GetAtt ${logicalId}.${attribute} (not in the template)`);
    if (resource.Type === 'AWS::CloudFormation::Stack' && attribute.startsWith('Outputs.')) {
      const output = this.ctx.nestedOutput?.(logicalId, attribute.slice('Outputs.'.length));
      return output !== undefined ? output : this.unresolved(at, `Fn::GetAtt ${logicalId}.${attribute}`);
    }
    if (isCustomResource(resource.Type)) {
      return this.unresolved(
        at,
        `Fn::GetAtt ${logicalId}.${attribute} (set by the ${resource.Type} provider)`,
      );
    }
    const value = this.facts(logicalId, resource, at).attributes[attribute];
    if (!value) return this.unresolved(at, `Fn::GetAtt ${resource.Type}.${attribute}`);
    return value(this.view(logicalId, resource));
  }

  private facts(logicalId: string, resource: CfnResource, at: string): ResourceFacts {
    const known = knownFacts(resource.Type);
    if (known) return known;
    this.note(at, `no value format known for ${resource.Type} (${logicalId}): assumed a generated name`);
    return genericFacts(resource.Type);
  }

  private view(logicalId: string, resource: CfnResource): ResourceView {
    const property = (name: string): Resolved =>
      resource.Properties && Object.hasOwn(resource.Properties, name)
        ? this.resolve(resource.Properties[name], logicalId)
        : undefined;
    const facts = knownFacts(resource.Type) ?? genericFacts(resource.Type);
    const { stackName } = this.ctx;
    return {
      logicalId,
      type: resource.Type,
      env: this.ctx.env,
      property,
      name: () => {
        const rule = facts.name;
        if (!rule) return generatedName(stackName, logicalId, NAME_RULES.other);
        const explicit = rule.property ? property(rule.property) : undefined;
        if (typeof explicit === 'string' && explicit !== '') return explicit;
        const fifo = rule.fifoProperty !== undefined && property(rule.fifoProperty) === true;
        if (!fifo) return generatedName(stackName, logicalId, rule.rule);
        return `${generatedName(stackName, logicalId, { ...rule.rule, maxLength: rule.rule.maxLength - 5 })}.fifo`;
      },
    };
  }
}

const knownFacts = (type: string): ResourceFacts | undefined =>
  type === 'AWS::CloudFormation::Stack' ? NESTED_STACK_FACTS : RESOURCE_FACTS[type];

/** A resolved value as CloudFormation writes it into a string (lists joined by commas). */
const textOf = (value: Resolved): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(textOf).join(',');
  return value === undefined || value === NO_VALUE ? '' : JSON.stringify(value);
};

/** How much a branch of Fn::If weighs in a measurement: its JSON length (a removed value: 0). */
const measuredLength = (value: Resolved | typeof NO_VALUE): number =>
  value === NO_VALUE || value === undefined ? 0 : (JSON.stringify(value)?.length ?? 0);
