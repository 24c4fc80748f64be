"""Demo data: a dozen realistic projects built through the services, with dated histories.

The scenario data is plain data: `people` (the fixed team, the names porteurs are drawn from),
`places` (communes, quartiers and partners) and `scenarios` (each project's story: when each
action was taken). The builder writes it through the same service functions as a real project:
`builder` (one project's records, each at its historical moment), `steps` (what each action
needs), `story` (one scenario from creation to its current step), `team` (the demo accounts and
their logins), `pdfs` (small valid PDF documents) and `load` (`load_demo`, the entry point).
The bulk generator of the benchmark lives in `bench/bulk.py`.
"""
