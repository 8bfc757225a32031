/* gruseg book: set-up for the vendored Jupyter widget manager. Loaded after require.js and before
   embed-amd.js (see nb_ipywidgets_js in _config.yml); written for gruseg, not part of the npm packages. */
(function () {
  "use strict";
  // 1. The widget bundles inject CSS whose icon-font URLs are relative to the URL require.js gives
  //    their AMD module, e.g. "@jupyter-widgets/html-manager/dist/libembed-amd" or
  //    "@jupyter-widgets/controls": by default <page dir>/@jupyter-widgets/..., which 404s.
  //    Map those module names into this folder, where the fonts are vendored. (All @jupyter-widgets
  //    modules are defined inside embed-amd.js, so nothing is loaded through these paths.)
  var here = document.currentScript && document.currentScript.src;
  if (here) {
    var folder = here.replace(/[^\/]*$/, "").replace(/\/$/, "");
    window.__jupyter_widgets_assets_path__ = folder + "/";
    if (window.require && window.require.config) {
      window.require.config({
        paths: {
          "@jupyter-widgets/html-manager/dist": folder, // .../dist/libembed-amd -> folder/libembed-amd
          "@jupyter-widgets": folder,                   // @jupyter-widgets/controls -> folder/controls
        },
      });
    }
  }
  // 2. @jupyter-widgets/controls 5 typesets widget labels with MathJax 2's MathJax.Hub.Queue, but the
  //    book loads MathJax 3 (no Hub), so rendering a labelled widget threw a TypeError. Bridge that
  //    one call to MathJax 3's typesetPromise once MathJax 3 has replaced its config object.
  function bridge() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.version) {
      return; // not loaded (yet), or a MathJax that has its own Hub
    }
    mj.Hub = {
      Queue: function (command) {
        var element = Array.isArray(command) ? command[2] : undefined;
        var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
        ready
          .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
          .catch(function (err) { console.warn("gruseg: typesetting a widget label failed", err); });
      },
    };
  }
  document.addEventListener("DOMContentLoaded", bridge);
  window.addEventListener("load", bridge); // registered before embed-amd.js renders on "load"
})();
