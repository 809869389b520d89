//! A vCenter simulator speaking the Automation REST API and the VI JSON API.
