// plotly.js, loaded once per page: Streamlit's own `PlotlyChart` module (`chunk`, its file name
// as the server knows it), imported from the app's static files, which leaves `window.Plotly`
// set. The browser evaluates a module once, whoever imports it first: the page's preload
// (`optviz.ui.preload_charts`) or its first chart element (`charts.js`).
async function optvizPlotly(chunk) {
  if (!window.Plotly) {
    // Relative to Streamlit's own entry module, where its chunks live under any base path.
    const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
    await import(new URL(chunk, entry ? entry.src : document.baseURI).href);
  }
  return window.Plotly;
}
