/**
 * The analysis stack and its nested stacks (lib/constructs/group-shards.ts) as one template, so
 * assertions and the policy simulator see every resource as if the per-group ones were in the
 * analysis template: each nested template's parameters are replaced by the values the analysis
 * template passes it, and `Outputs.X` of a nested stack by the output's value.
 */
import { CfnElement, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

type Json = Record<string, unknown>;

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `value` with every `{Ref: name}` of `values` replaced. */
const substitute = (value: unknown, values: Readonly<Json>): unknown => {
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === 'Ref' && typeof value.Ref === 'string' && value.Ref in values) {
    return values[value.Ref];
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, values)]));
};

/** `{Fn::GetAtt: [resource, 'Outputs.X']}` replaced by the nested output's value. */
const substituteOutputs = (value: unknown, outputs: ReadonlyMap<string, Json>): unknown => {
  if (Array.isArray(value)) return value.map((v) => substituteOutputs(v, outputs));
  if (!isRecord(value)) return value;
  const att = value['Fn::GetAtt'];
  if (Object.keys(value).length === 1 && Array.isArray(att) && String(att[1]).startsWith('Outputs.')) {
    const nested = outputs.get(String(att[0]));
    const output = nested?.[String(att[1]).slice('Outputs.'.length)];
    if (isRecord(output)) return output.Value;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteOutputs(v, outputs)]));
};

/** The analysis stack's nested stacks (direct children only: ours do not nest further). */
export const nestedStacksOf = (stack: Stack): NestedStack[] =>
  stack.node
    .findAll()
    .filter((c): c is NestedStack => NestedStack.isNestedStack(c) && c.nestedStackParent === stack);

export const mergedTemplate = (stack: Stack): Template => {
  const parent = Template.fromStack(stack).toJSON() as { Resources: Json; Outputs?: Json };
  const resources: Json = { ...parent.Resources };
  const outputs = new Map<string, Json>();
  for (const nested of nestedStacksOf(stack)) {
    const resourceId = stack.getLogicalId(nested.nestedStackResource as CfnElement);
    const passed = ((resources[resourceId] as Json).Properties as Json | undefined)?.Parameters;
    const child = Template.fromStack(nested).toJSON() as { Resources?: Json; Outputs?: Json };
    const values = isRecord(passed) ? passed : {};
    for (const [id, resource] of Object.entries(child.Resources ?? {})) {
      if (id in resources) throw new Error(`logical id ${id} is in two templates`);
      resources[id] = substitute(resource, values);
    }
    outputs.set(resourceId, substitute(child.Outputs ?? {}, values) as Json);
  }
  return Template.fromJSON(
    {
      ...parent,
      Resources: substituteOutputs(resources, outputs) as Json,
      ...(parent.Outputs ? { Outputs: substituteOutputs(parent.Outputs, outputs) } : {}),
    },
    { skipCyclicalDependenciesCheck: true },
  );
};
