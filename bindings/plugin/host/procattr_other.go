//go:build !linux

package host

import "syscall"

// procAttr is empty where Pdeathsig does not exist; the SDK's exit when
// its session ends is the only guard against orphans there.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
