/**
 * Reads a stack of a synthesized cloud assembly, with its nested stacks, as ./stack-templates.ts trees.
 * A nested stack's template is found through the asset CDK publishes it as: the
 * `aws:asset:path` metadata when the CLI asked for it, else the asset whose object key its
 * TemplateURL names.
 */
import { AssetManifestArtifact, CloudAssembly, type CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { awsEnvironmentFor } from './aws-environment';
import type { CfnResource, CfnTemplate } from './cfn-template';
import { isRecord } from './cfn-template';
import type { ResolutionNotes } from './resolution-notes';
import { buildStackTemplate, type StackTemplate, type TemplateSource } from './stack-templates';

export const openAssembly = (assembly: string | CloudAssembly): CloudAssembly =>
  typeof assembly === 'string' ? new CloudAssembly(assembly) : assembly;

/** The stack named `name`: its CloudFormation name, artifact id or display name (`AnalysisStack`). */
export const findStackArtifact = (assembly: CloudAssembly, name: string): CloudFormationStackArtifact => {
  const stacks = assembly.stacksRecursively;
  const found = stacks.find(
    (s) => s.id === name || s.stackName === name || s.displayName === name || s.hierarchicalId === name,
  );
  if (!found) {
    const known = stacks.map((s) => `${s.displayName} (${s.stackName})`).join(', ') || 'none';
    throw new Error(`no stack "${name}" in the cloud assembly at ${assembly.directory} (stacks: ${known})`);
  }
  return found;
};

const readTemplate = (file: string): TemplateSource => {
  const text = fs.readFileSync(file);
  return { template: JSON.parse(text.toString('utf8')) as CfnTemplate, templateBytes: text.length };
};

/** Template files CDK publishes as assets, by the object key they are uploaded to. */
const templateAssets = (assembly: CloudAssembly): Map<string, string> => {
  const files = new Map<string, string>();
  for (const artifact of assembly.artifacts) {
    if (!AssetManifestArtifact.isAssetManifestArtifact(artifact)) continue;
    for (const asset of Object.values(artifact.contents.files ?? {})) {
      if (!asset.source.path?.endsWith('.json')) continue;
      for (const destination of Object.values(asset.destinations)) {
        files.set(destination.objectKey, path.join(assembly.directory, asset.source.path));
      }
    }
  }
  return files;
};

const nestedTemplateFile = (
  assembly: CloudAssembly,
  assets: Map<string, string>,
  resource: CfnResource,
): string | undefined => {
  const assetPath = resource.Metadata?.['aws:asset:path'];
  if (typeof assetPath === 'string') return path.join(assembly.directory, assetPath);
  const url = JSON.stringify(resource.Properties?.TemplateURL ?? '');
  for (const [objectKey, file] of assets) if (url.includes(objectKey)) return file;
  return undefined;
};

/** Every stack's exports, resolved in that stack, for `Fn::ImportValue`. */
const exportsOf = (assembly: CloudAssembly, except: CloudFormationStackArtifact, notes: ResolutionNotes) => {
  let values: Map<string, unknown> | undefined;
  return (name: string): unknown => {
    values ??= new Map(
      assembly.stacksRecursively
        .filter((s) => s !== except)
        .flatMap((s) => {
          const tree = loadStackTemplates(assembly, s.id, notes, false);
          return Object.entries(tree.template.Outputs ?? {}).flatMap(([id, output]) =>
            isRecord(output.Export) && output.Export.Name !== undefined
              ? [[tree.resolver.resolveText(output.Export.Name, id), tree.resolver.resolve(output.Value, id)]]
              : [],
          ) as [string, unknown][];
        }),
    );
    return values.get(name);
  };
};

/** The stack `name` of the assembly and its nested stacks, ready to measure. */
export const loadStackTemplates = (
  assembly: CloudAssembly,
  name: string,
  notes: ResolutionNotes,
  withImports = true,
): StackTemplate => {
  const artifact = findStackArtifact(assembly, name);
  const assets = templateAssets(assembly);
  return buildStackTemplate({
    where: artifact.hierarchicalId,
    stackName: artifact.stackName,
    env: awsEnvironmentFor(artifact.environment.region),
    notes,
    source: readTemplate(artifact.templateFullPath),
    nestedSource: (_logicalId, resource) => {
      const file = nestedTemplateFile(assembly, assets, resource);
      return file && fs.existsSync(file) ? readTemplate(file) : undefined;
    },
    ...(withImports ? { importedValue: exportsOf(assembly, artifact, notes) } : {}),
  });
};
