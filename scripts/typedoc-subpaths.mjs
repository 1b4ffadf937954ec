// TypeDoc names a module after its file (`generators/anthropic`); users import it by its package
// subpath (`ptc-agent/anthropic`). This plugin renames each entry point's module to that subpath
// (the map below mirrors package.json's "exports" and tsup.config.ts's entries), so the reference
// reads as the imports do. A module it cannot map fails the build: a new entry point needs a name here.
import { Converter, ReflectionKind } from 'typedoc';

/** TypeDoc's module name (its path under src/, without index) → the import users write. */
const SUBPATHS = {
  index: 'ptc-agent',
  testing: 'ptc-agent/testing',
  'generators/anthropic': 'ptc-agent/anthropic',
  'generators/ai-sdk': 'ptc-agent/ai-sdk',
  'runners/daytona': 'ptc-agent/daytona',
  'caches/redis': 'ptc-agent/redis',
  roma: 'ptc-agent/roma',
  eval: 'ptc-agent/eval',
};
const ORDER = Object.values(SUBPATHS);

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const project = context.project;
    for (const module of project.getChildrenByKind(ReflectionKind.Module)) {
      const subpath = SUBPATHS[module.name];
      if (subpath === undefined) {
        app.logger.error(`scripts/typedoc-subpaths.mjs: no package subpath for the module "${module.name}"; add it to SUBPATHS`);
        continue;
      }
      module.name = subpath;
    }
    project.children?.sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
  });
}
