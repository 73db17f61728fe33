/**
 * The web console's parts that need no browser: its config (what the page is told, and the checks'
 * analysis rebuilt from it), its routes, its headers and the bucket CORS, and the local server that
 * serves the built files (only those) with the headers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import { analysisForChecks, consoleAnalysis, consoleConfigSchema } from '../../lib/console/console-config';
import { CONSOLE_CORS, corsXml } from '../../lib/console/console-cors';
import { consoleHeaders, contentSecurityPolicy } from '../../lib/console/console-headers';
import { parseSubmission } from '../../lib/submission/parse-submission';
import { startConsoleServer } from '../../local/console-server';
import { hrefOf, parseRoute } from '../../web/src/route';

const mock = loadBlueprintFile(path.join(__dirname, '..', '..', 'blueprints', 'mock.json'));

describe('console config', () => {
  test('carries what a member may see, survives JSON, and gives the checks the same answers as the blueprint', () => {
    const view = consoleAnalysis(mock);
    const json = JSON.parse(JSON.stringify({ analysis: view, bucket: 'b' })) as unknown;
    const parsed = consoleConfigSchema.parse(json);
    expect(parsed.analysis.groups.map((g) => g.name)).toEqual(['labA', 'labB']);
    expect(parsed.analysis.limits).toEqual({
      allowedInstanceTypes: ['t3.micro', 't3.small', 'm5.large'],
      maxDurationMinutes: 60,
      maxDatasetSizeGiB: 20,
      maxDatasets: 10,
    });
    // No addresses or user names of any group travel to the page.
    expect(JSON.stringify(parsed)).not.toMatch(/@|UserNames|userEmails/);

    const rules = analysisForChecks(parsed.analysis);
    const cases = [
      { dataname: 'labA/inputs/a.csv', configname: 'labA/configs/c.json', timestamp: 't1' },
      {
        dataname: 'labA/inputs/a.csv',
        configname: 'labA/configs/c.json',
        timestamp: 't1',
        instance_type: 'p5.48xlarge',
      },
      { dataname: 'labB/inputs/a.csv', configname: 'labA/configs/c.json', timestamp: 't1' },
      {
        dataname: Array.from({ length: 11 }, (_, i) => `labA/inputs/${i}.csv`),
        configname: 'labA/configs/c.json',
        timestamp: 't1',
      },
      { dataname: 'labA/inputs/a.csv', configname: 'labA/configs/c.json', timestamp: 'a/b' },
    ];
    for (const body of cases) {
      const args = { body: JSON.stringify(body), key: 'labA/submissions/t1submit.json' };
      expect(parseSubmission({ ...args, analysis: rules })).toEqual(
        parseSubmission({ ...args, analysis: mock }),
      );
    }
  });

  test('no cap travels as null and comes back as no cap', () => {
    const uncapped = {
      ...mock,
      limits: { ...mock.limits, maxDatasets: Number.POSITIVE_INFINITY },
    };
    const view = consoleConfigSchema.parse(
      JSON.parse(JSON.stringify({ analysis: consoleAnalysis(uncapped), bucket: 'b' })),
    );
    expect(view.analysis.limits.maxDatasets).toBeNull();
    expect(analysisForChecks(view.analysis).limits.maxDatasets).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('routes', () => {
  test('every page round-trips through its address; anything else is the jobs page', () => {
    for (const route of [
      { page: 'jobs' },
      { page: 'upload' },
      { page: 'analysis' },
      { page: 'submit' },
      { page: 'submit', again: '2026-01-01T00-00-00Z-ab' },
      { page: 'job', jobId: 'a b/<c>' },
    ] as const) {
      expect(parseRoute(hrefOf(route))).toEqual(route);
    }
    for (const junk of [
      '',
      '#',
      '#/nothing',
      '#/job/',
      'javascript:alert(1)',
      '#/job/%E0%A4%A',
      '#/submit/%',
    ])
      expect(parseRoute(junk).page).toBe('jobs');
  });
});

describe('headers and CORS', () => {
  test('the policy allows no inline script, no framing, and connections only to the given origins', () => {
    const csp = contentSecurityPolicy({ connectSrc: ['https://b.s3.us-east-1.amazonaws.com'] });
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain('worker-src blob:');
    expect(csp).toContain("connect-src 'self' https://b.s3.us-east-1.amazonaws.com");
    expect(consoleHeaders({ connectSrc: [] })['X-Content-Type-Options']).toBe('nosniff');
  });

  test('the S3 emulator CORS names only the console origin, escaped', () => {
    const xml = corsXml(['http://127.0.0.1:1234', 'x<y']);
    expect(xml).toContain('<AllowedOrigin>http://127.0.0.1:1234</AllowedOrigin>');
    expect(xml).toContain('<AllowedOrigin>x&lt;y</AllowedOrigin>');
    expect(xml).toContain('<ExposeHeader>ETag</ExposeHeader>');
    expect(CONSOLE_CORS.allowedMethods).not.toContain('*');
  });
});

describe('local console server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-console-server-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
  fs.mkdirSync(path.join(dir, 'chunks'));
  fs.writeFileSync(path.join(dir, 'chunks', 'a.js'), 'export {}');
  fs.writeFileSync(path.join(os.tmpdir(), 'ncaas-console-secret.txt'), 'secret');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('serves the built files and config.json with the headers; nothing else, and only GET/HEAD', async () => {
    const server = await startConsoleServer({ dir });
    try {
      const get = (p: string, init?: RequestInit) => fetch(`${server.origin}${p}`, init);
      expect((await get('/config.json')).status).toBe(503);
      server.configure(
        { analysis: consoleAnalysis(mock), bucket: 'mock-local' },
        { connectSrc: ['http://127.0.0.1:9'] },
      );
      const page = await get('/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('content-security-policy')).toContain('connect-src');
      expect((await get('/chunks/a.js')).headers.get('content-type')).toContain('javascript');
      expect(((await (await get('/config.json')).json()) as { bucket: string }).bucket).toBe('mock-local');
      for (const hostile of [
        '/../ncaas-console-secret.txt',
        '/%2e%2e/ncaas-console-secret.txt',
        '/chunks/../../x',
        '/nothing',
      ])
        expect((await get(hostile)).status).toBe(404);
      expect((await get('/', { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await server.stop();
    }
  });
});
