/*
 * The pod sandbox ("pause") container of the local cluster: containerd starts one per pod to hold
 * its namespaces. It must run forever doing nothing, reap the zombies that land on it when it is
 * PID 1 of a shared PID namespace, and exit promptly on SIGTERM/SIGINT. Built statically by
 * scripts/cluster/images.sh because the public pause image cannot be pulled here.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
  struct sigaction stop, child;
  memset(&stop, 0, sizeof stop);
  stop.sa_handler = on_stop;
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  memset(&child, 0, sizeof child);
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 1;
}
