#ifndef CORDON_HOME_SEED_H
#define CORDON_HOME_SEED_H
/* Copies the regular files and folders under SEED_DIR into $HOME (see home-seed.c). */
void seed_home(const char *seed_dir);
#endif
