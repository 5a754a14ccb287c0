// Starts GraphiQL. Served as a file (not inline) so the page runs under
// "script-src 'self'". The settings come from the JSON block the Go handler
// renders into the page.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('graphiql-config').textContent);

  // Editor state lives only as long as the page: a reload always shows the
  // configured query and headers, and a prefilled token is never written to
  // localStorage.
  var memory = new Map();
  var storage = {
    getItem: function (key) { return memory.has(key) ? memory.get(key) : null; },
    setItem: function (key, value) { memory.set(key, String(value)); },
    removeItem: function (key) { memory.delete(key); },
    clear: function () { memory.clear(); },
    get length() { return memory.size; }
  };

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: config.endpoint }),
    defaultQuery: config.defaultQuery,
    headers: config.headers,
    defaultEditorToolsVisibility: config.headers ? 'headers' : undefined,
    shouldPersistHeaders: false,
    storage: storage
  }));
})();
