// pnpm's install hook, for one fix: @prisma/client declares optional peers on the `prisma` CLI and
// `typescript`, which only its legacy `prisma-client-js` generator uses (it generates into
// node_modules at install time). We generate with `prisma-client` into packages/db/src/generated
// and compile that into dist/, so at runtime @prisma/client is just the query runtime. Left in,
// the peers are satisfied by @app/db's devDependency and the root's TypeScript, and
// `pnpm deploy --prod` copies the whole CLI (with its Studio UI, React and TypeScript) into every
// service's production tree.
module.exports = {
  hooks: {
    readPackage(pkg) {
      if (pkg.name === '@prisma/client') {
        for (const peer of ['prisma', 'typescript']) {
          delete pkg.peerDependencies?.[peer];
          delete pkg.peerDependenciesMeta?.[peer];
        }
      }
      return pkg;
    },
  },
};
