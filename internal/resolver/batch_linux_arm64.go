package resolver

// System call numbers the syscall package lacks or may lack.
const (
	sysRecvmmsg = 243
	sysSendmmsg = 269
)
