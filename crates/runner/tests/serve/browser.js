// The dashboard in Debian's Chromium, driven by playwright-core (never a downloaded browser).
// node browser.js URL TOKEN RUN_NUMBER PIPELINE_ID SCREENSHOT_DIR
// Run by tests/serve/dashboard.rs with a run of RUN_NUMBER going (its prep step sleeps).
// Prints one line per thing it saw; exits non-zero on the first thing that is not so.
const { chromium } = require('playwright-core');
const [url, token, run, pipeline, shots] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.setDefaultTimeout(30000);
    // The run page reloads itself once the run ends; a screenshot taken while it does fails,
    // so it is taken again once the page has loaded.
    const shot = async (name) => {
      for (let i = 0; ; i++) {
        try {
          await page.waitForLoadState('load');
          return await page.screenshot({ path: shots + '/' + name, fullPage: true });
        } catch (e) {
          if (i === 10) throw e;
          await page.waitForTimeout(300);
        }
      }
    };

    // The run list, and a plain link to the run.
    await page.goto(url + '/');
    const rows = await page.locator('#runs tr').count();
    if (rows < 2) throw new Error('no runs listed');
    console.log('runs listed: %d', rows - 1);
    await shot('index.png');
    await page.click(`#runs a[href="/ui/runs/${run}"]`);
    await page.waitForURL(`**/ui/runs/${run}`);

    // The graph, with every step, and the running step turning green.
    const names = await page.locator('svg#graph g.node').evaluateAll((nodes) => nodes.map((n) => n.dataset.step));
    if (names.join(',') !== 'prep,train') throw new Error('graph steps: ' + names);
    console.log('graph has %s', names.join(', '));
    const before = await page.getAttribute('#node-prep', 'class');
    console.log('prep was %s', before);
    await page.waitForSelector('#node-prep.st-ran', { timeout: 60000 });
    console.log('prep turned ran');
    await page.waitForSelector('#node-train.st-ran', { timeout: 60000 });
    // The finished run, after the page's own reload.
    await page.waitForSelector('h1 .b-succeeded', { timeout: 60000 });
    await shot('run.png');
    await page.click('#node-prep');
    if (!page.url().endsWith('#step-prep')) throw new Error('a step is not a link to its details');

    // Disable the published pipeline from its page, then see a submission refused.
    await page.goto(url + '/ui/pipelines');
    await page.fill('#token', token);
    await Promise.all([page.waitForEvent('load'), page.click(`button.toggle[data-id="${pipeline}"]`)]);
    const state = await page.textContent(`#pipeline-${pipeline} .badge`);
    if (state !== 'Disabled') throw new Error('toggle left it ' + state);
    console.log('disabled');
    await shot('pipelines.png');
    const refused = await page.evaluate(async ([id, tok]) => {
      const r = await fetch('/pipelines/' + id, {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json' },
        body: JSON.stringify({ ExperimentName: 'refused' }),
      });
      return r.status + ' ' + (await r.text());
    }, [pipeline, token]);
    if (!refused.startsWith('409')) throw new Error('a disabled pipeline took a submission: ' + refused);
    console.log('submission refused %s', refused.slice(0, 3));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
