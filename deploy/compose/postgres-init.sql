-- The console's case store lives beside the warehouse, in its own database.
CREATE DATABASE recon_console OWNER recon;
