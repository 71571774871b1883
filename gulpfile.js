const path = require('path');
const { task, src, dest } = require('gulp');

task('build:icons', copyIcons);

// tsc emits only JavaScript; n8n loads node and credential icons, and each node's codex file (X.node.json:
// categories, aliases, documentation links), from beside the compiled files.
function copyIcons() {
	const nodeSource = path.resolve('nodes', '**', '*.{png,svg,node.json}');
	const nodeDestination = path.resolve('dist', 'nodes');
	src(nodeSource, { encoding: false }).pipe(dest(nodeDestination));

	const credSource = path.resolve('credentials', '**', '*.{png,svg}');
	const credDestination = path.resolve('dist', 'credentials');
	return src(credSource, { encoding: false }).pipe(dest(credDestination));
}
