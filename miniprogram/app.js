// The app shell: every page is a Component (a page built with the Component constructor), so the same
// files run in WeChat and under miniprogram-simulate in the Node tests.
App({})
