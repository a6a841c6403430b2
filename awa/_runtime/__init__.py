"""The worker runtime: async only, anyio structured concurrency.

A runtime is a task group of services (listener, completer, heartbeater,
leader with its maintenance services, one dispatcher per queue) plus a task
group of jobs, each job a task in its own cancel scope holding a lease token.
"""
