// Package procstat measures the CPU time of host processes the way the
// admission benchmark needs it: utime + stime of /proc/PID/stat (the whole
// thread group, exited threads included), summed over a set of processes,
// and the processes of a Pod found on the host through the Pod's UID in
// /proc/PID/cgroup. It reads a proc root given to it (/proc on a host,
// a directory of fixtures in tests). Standard library only.
package procstat
