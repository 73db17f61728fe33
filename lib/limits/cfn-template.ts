/**
 * The parts of a CloudFormation template the limits check reads (lib/limits/), as CDK writes it:
 * JSON with `Resources`, `Parameters`, `Outputs`, `Mappings`, `Conditions`.
 */

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly Metadata?: Readonly<Record<string, unknown>>;
}

export interface CfnParameter {
  readonly Type?: string;
  readonly Default?: unknown;
}

export interface CfnOutput {
  readonly Value?: unknown;
  readonly Export?: { readonly Name?: unknown };
}

export interface CfnTemplate {
  readonly Description?: string;
  readonly Resources?: Readonly<Record<string, CfnResource>>;
  readonly Parameters?: Readonly<Record<string, CfnParameter>>;
  readonly Outputs?: Readonly<Record<string, CfnOutput>>;
  readonly Mappings?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
  readonly Conditions?: Readonly<Record<string, unknown>>;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value CloudFormation accepts as one item or a list of them, as a list. */
export const asList = (value: unknown): unknown[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Logical ids and resources of one type, in template order. */
export const resourcesOfType = (template: CfnTemplate, type: string): [string, CfnResource][] =>
  Object.entries(template.Resources ?? {}).filter(([, resource]) => resource.Type === type);

/** The bytes of a template as CDK writes it to the cloud assembly (JSON, one-space indent). */
export const templateFileBytes = (template: CfnTemplate): number =>
  Buffer.byteLength(JSON.stringify(template, undefined, 1), 'utf8');
