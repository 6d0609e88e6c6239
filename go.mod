module github.com/netrun/netrun

go 1.26
