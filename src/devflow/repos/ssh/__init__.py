"""SSH access to repositories (`git clone ssh://…`): an in-process asyncssh server, started by
`devflow serve`/`up` on `repos.ssh_port`, that runs `git upload-pack`/`receive-pack` for users
authenticated by their public keys (docs/decisions/0021-git-over-ssh.md). Imports nothing here:
asyncssh is loaded only when the server starts or a key is parsed."""
