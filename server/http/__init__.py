"""The HTTP kit every route module builds on: the typed route table (Api, Ctx), errors,
shared field types and the middlewares (client address, slow-client limits, security headers).
It sits just above the domain, so the core's routes and each feature folder's routes use it
without importing one another."""
