#!/usr/bin/env node
console.log("switchyard cli", process.version);
