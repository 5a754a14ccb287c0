#!/bin/sh
# update-assets.sh re-fetches the vendored GraphiQL files into ./assets with
# `npm pack` (no node_modules, no install scripts) and copies only what the
# page loads, plus each package's LICENSE. Bump the versions below, run it from
# anywhere, then update assets/README.md and run `go test ./internal/graphiql/`.
#
# Why GraphiQL 3.x: it is the last line that ships a UMD build
# (graphiql.min.js exposing window.GraphiQL, with React and ReactDOM as
# globals), so the page needs no bundler and no import maps. 4.x and 5.x are
# ESM-only and would need a build step in this repository.
set -eu

GRAPHIQL_VERSION=3.9.0
REACT_VERSION=18.3.1

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/assets"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null
for pkg in graphiql react react-dom; do
	mkdir -p "$pkg"
	tar -xzf "$pkg"-[0-9]*.tgz -C "$pkg" --strip-components=1
done

rm -rf "$dest/graphiql" "$dest/react" "$dest/react-dom"
mkdir -p "$dest/graphiql" "$dest/react" "$dest/react-dom"
cp graphiql/graphiql.min.js graphiql/graphiql.min.css graphiql/LICENSE "$dest/graphiql/"
cp react/umd/react.production.min.js react/LICENSE "$dest/react/"
cp react-dom/umd/react-dom.production.min.js react-dom/LICENSE "$dest/react-dom/"

echo "assets updated: graphiql@$GRAPHIQL_VERSION react@$REACT_VERSION react-dom@$REACT_VERSION"
