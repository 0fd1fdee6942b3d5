// miniprogram-simulate renders pages into jsdom; the tests run one file at a time against one server.
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/test/**/*.test.js'],
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 20000,
}
