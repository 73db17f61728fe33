/**
 * A stack's template and its nested stacks' templates, each with the resolver that gives its
 * intrinsics realistic values: a nested stack's parameters are what its parent passes, resolved in
 * the parent, and `Fn::GetAtt [Stack, Outputs.X]` in the parent is the nested stack's output.
 */
import type { AwsEnvironment } from './aws-environment';
import {
  type CfnResource,
  type CfnTemplate,
  isRecord,
  resourcesOfType,
  templateFileBytes,
} from './cfn-template';
import { IntrinsicResolver, nestedStackName } from './intrinsic-resolver';
import type { ResolutionNotes } from './resolution-notes';

export interface StackTemplate {
  /** For messages: `AnalysisStack`, or `AnalysisStack/<nested stack logical id>`. */
  readonly where: string;
  /** The CloudFormation stack name (a nested stack's as CloudFormation generates it). */
  readonly stackName: string;
  readonly template: CfnTemplate;
  /** Size of the template as CDK wrote it: what CloudFormation receives. */
  readonly templateBytes: number;
  readonly resolver: IntrinsicResolver;
  /** Nested stacks, by the logical id of their AWS::CloudFormation::Stack resource. */
  readonly nested: ReadonlyMap<string, StackTemplate>;
}

export interface TemplateSource {
  readonly template: CfnTemplate;
  readonly templateBytes: number;
}

export interface StackTemplateOptions {
  readonly where: string;
  readonly stackName: string;
  readonly env: AwsEnvironment;
  readonly notes: ResolutionNotes;
  readonly source: TemplateSource;
  /** The template of a nested stack resource; undefined when it cannot be found (noted, not measured). */
  readonly nestedSource: (
    logicalId: string,
    resource: CfnResource,
    where: string,
  ) => TemplateSource | undefined;
  readonly importedValue?: (name: string) => unknown;
}

export const buildStackTemplate = (
  options: StackTemplateOptions,
  parentParameter?: (name: string) => unknown,
): StackTemplate => {
  const { where, stackName, env, notes, source } = options;
  const nested = new Map<string, StackTemplate>();
  const resolver = new IntrinsicResolver({
    where,
    template: source.template,
    stackName,
    env,
    notes,
    ...(parentParameter ? { parentParameter } : {}),
    ...(options.importedValue ? { importedValue: options.importedValue } : {}),
    nestedOutput: (logicalId, output) => {
      const child = nested.get(logicalId);
      const declared = child?.template.Outputs?.[output];
      return child && declared ? child.resolver.resolve(declared.Value, `Outputs.${output}`) : undefined;
    },
  });
  for (const [logicalId, resource] of resourcesOfType(source.template, 'AWS::CloudFormation::Stack')) {
    const childSource = options.nestedSource(logicalId, resource, where);
    if (!childSource) {
      notes.add(`${where}/${logicalId}: the nested stack's template is not in the assembly: not measured`);
      continue;
    }
    const passed = resource.Properties?.Parameters;
    const child = buildStackTemplate(
      {
        ...options,
        where: `${where}/${logicalId}`,
        stackName: nestedStackName(stackName, logicalId),
        source: childSource,
      },
      (name) =>
        isRecord(passed) && Object.hasOwn(passed, name)
          ? resolver.resolve(passed[name], logicalId)
          : undefined,
    );
    nested.set(logicalId, child);
  }
  return {
    where,
    stackName,
    template: source.template,
    templateBytes: source.templateBytes,
    resolver,
    nested,
  };
};

/** The stack and every stack nested in it, parents first. */
export const allStackTemplates = (root: StackTemplate): StackTemplate[] => [
  root,
  ...[...root.nested.values()].flatMap(allStackTemplates),
];

/** Hand-written templates (tests): a template and the templates of its nested stacks by logical id. */
export interface TemplateTree {
  readonly template: CfnTemplate;
  readonly nested?: Readonly<Record<string, TemplateTree>>;
}

/** A stack tree from templates in memory, sized as CDK would write them. */
export const stackTemplatesFromTrees = (
  tree: TemplateTree,
  options: {
    readonly stackName: string;
    readonly where?: string;
    readonly env: AwsEnvironment;
    readonly notes: ResolutionNotes;
  },
): StackTemplate => {
  const byWhere = new Map<string, TemplateTree>();
  const register = (node: TemplateTree, where: string): void => {
    byWhere.set(where, node);
    for (const [id, child] of Object.entries(node.nested ?? {})) register(child, `${where}/${id}`);
  };
  const where = options.where ?? options.stackName;
  register(tree, where);
  const sourceOf = (node: TemplateTree): TemplateSource => ({
    template: node.template,
    templateBytes: templateFileBytes(node.template),
  });
  return buildStackTemplate({
    where,
    stackName: options.stackName,
    env: options.env,
    notes: options.notes,
    source: sourceOf(tree),
    nestedSource: (logicalId, _resource, parentWhere) => {
      const node = byWhere.get(`${parentWhere}/${logicalId}`);
      return node ? sourceOf(node) : undefined;
    },
  });
};
