// The project as WeChat DevTools opens it: every page complete, compiled by WeChat's own WXML and WXSS
// compilers (the Linux builds of wcc and wcsc shipped in miniprogram-compiler), production on HTTPS.
const fs = require('fs')
const path = require('path')
const glob = require('glob')
const wcc = require('miniprogram-compiler/src/wcc')
const wcsc = require('miniprogram-compiler/src/wcsc')
const config = require('../config')

const ROOT = path.resolve(__dirname, '..')
const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'))
const sources = ext => glob.sync(`**/*.${ext}`, {cwd: ROOT, ignore: ['node_modules/**']})
  .map(file => file.slice(0, -(ext.length + 1)))

test('every page in app.json has its four files and is a Component page', () => {
  for (const page of app.pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) expect(fs.existsSync(path.join(ROOT, `${page}.${ext}`))).toBe(true)
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, `${page}.json`), 'utf8')).usingComponents).toEqual({})
    expect(fs.readFileSync(path.join(ROOT, `${page}.js`), 'utf8')).toMatch(/^Component\(\{/m)
  }
})

test("WeChat's compilers accept every WXML and WXSS file", () => {
  const wxml = wcc(ROOT, sources('wxml'), [], {})
  expect(wxml).not.toBeInstanceOf(Error)
  expect(typeof wxml).toBe('string')
  const wxss = wcsc(ROOT, sources('wxss'), {})
  expect(wxss).not.toBeInstanceOf(Error)
  for (const page of app.pages) expect(Object.keys(wxss)).toContain(`${page}.wxss`)
})

test('the published versions call the API over HTTPS; development calls make run', () => {
  expect(config.ENVS.release.apiBase).toMatch(/^https:\/\/[^/]+\/api\/citizen\/v1$/)
  expect(config.ENVS.trial.apiBase).toMatch(/^https:\/\/[^/]+\/api\/citizen\/v1$/)
  expect(config.ENVS.develop.apiBase).toBe('http://127.0.0.1:5000/api/citizen/v1')
})

test('the upload leaves the Node tests and packages out', () => {
  const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8'))
  const ignored = project.packOptions.ignore.map(i => i.value)
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'test', 'package.json', 'package-lock.json']))
})
