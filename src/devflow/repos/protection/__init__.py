"""Protected branches and commit statuses of git hosting.

Branch rules (`rules`) say what a push to the branches matching a glob may not do; DevFlow's
pre-receive hook (`hook`) asks the DevFlow process serving the push (`gate`) and the rules are
enforced in Gitea's order (`enforce`). Commit statuses (`statuses`) are what CI reports about a
commit, GitHub's way; required checks read them. This package imports nothing at its top so
that `repos.storage` can take the hook's text from it; the public names are re-exported by
`devflow.repos`.
"""
