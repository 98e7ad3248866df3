// Where the repository is, for the deploy checks that read files across the workspace.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY_DIR = join(REPO_ROOT, 'deploy');
