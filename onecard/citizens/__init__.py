"""The citizen service (居民服务): sessions, SMS codes, binding, card, subsidies, complaints, assisted actions."""
