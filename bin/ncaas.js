#!/usr/bin/env node
// The `ncaas` command (package.json "bin"): loads the TypeScript entry through tsx (a devDependency),
// so `npx ncaas ...` works in this repository without a build step.
'use strict';
require('tsx/cjs');
require('./ncaas.ts');
