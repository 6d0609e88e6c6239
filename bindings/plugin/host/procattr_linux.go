package host

import "syscall"

// procAttr makes the kernel kill the plugin when the thread that started
// it dies: a host killed with SIGKILL leaves no plugin behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
