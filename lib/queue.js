class JobQueue {}; module.exports = { JobQueue }
